from rest_framework import serializers

from billing.models import CreditNote, Invoice, InvoiceLine, PaymentAttempt, Refund


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = (
            "position", "kind", "description", "sku_code", "quantity", "unit_amount", "amount", "net",
            "tax", "total", "tax_name", "tax_rate_value", "tax_inclusive", "period_start", "period_end",
        )  # fmt: skip


class PaymentSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = PaymentAttempt
        fields = (
            "id",
            "attempt_number",
            "state",
            "amount",
            "currency",
            "decline_code",
            "decline_kind",
            "created_at",
            "completed_at",
        )


class TaxBreakdownSerializer(serializers.Serializer):
    name = serializers.CharField()
    rate = serializers.CharField()
    inclusive = serializers.BooleanField()
    taxable = serializers.IntegerField()
    tax = serializers.IntegerField()


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ("id", "amount", "currency", "state", "reason", "created_at")


class CreditNoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditNote
        fields = ("id", "number", "amount", "currency", "reason", "created_at")


class InvoiceSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    subscription = serializers.IntegerField(
        source="subscription_id", read_only=True, allow_null=True
    )
    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)
    payments = PaymentSummarySerializer(source="payment_attempts", many=True, read_only=True)
    tax_breakdown = TaxBreakdownSerializer(many=True, read_only=True)
    refunds = RefundSerializer(many=True, read_only=True)
    credit_notes = CreditNoteSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = (
            "id", "number", "customer", "subscription", "order", "period_start", "period_end", "status",
            "billing_reason", "collection_method", "currency", "subtotal", "tax", "total", "amount_paid",
            "amount_credited", "amount_refunded", "amount_due", "tax_breakdown", "due_date", "finalized_at",
            "paid_at", "voided_at", "lines", "payments", "refunds", "credit_notes", "created_at",
        )  # fmt: skip


class PaymentSerializer(serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    card = serializers.SerializerMethodField()

    class Meta:
        model = PaymentAttempt
        fields = (
            "id", "invoice", "invoice_number", "attempt_number", "trigger", "state", "amount", "currency",
            "stripe_payment_intent_id", "decline_code", "decline_kind", "failure_message", "card",
            "created_at", "completed_at",
        )  # fmt: skip

    def get_card(self, obj: PaymentAttempt) -> str | None:
        pm = obj.payment_method
        return f"{pm.brand} {pm.last4}" if pm else None
