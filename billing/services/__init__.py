"""Billing services. Every write goes through one of these; see each module's docstring."""

from .accounts import billing_account_update, order_tax_calculator, subscription_adjustments_invoice
from .batch import BatchItem, invoices_pay_batch
from .cards import (
    card_expiry_reminders_send,
    customer_stripe_ensure,
    payment_method_detached,
    payment_method_save,
    payment_method_sync,
    setup_intent_create,
)
from .dunning import (
    DunningRunResult,
    dunning_record_failure,
    dunning_recovered,
    dunning_retry_customer,
    dunning_run,
    dunning_stop,
)
from .invoices import (
    LineInput,
    PeriodInput,
    invoice_create,
    invoice_create_for_order,
    invoice_create_for_period,
    invoice_finalize,
    invoice_line_add,
    invoice_mark_uncollectible,
    invoice_send_email,
    invoice_void,
    invoices_create_for_periods,
    lines_from_preview,
)
from .payments import (
    attempt_key,
    choose_payment_method,
    invoice_pay,
    payment_attempt_begin,
    payment_attempt_charge,
    payment_attempt_complete,
    payment_attempt_mark_unknown,
    payment_attempt_resolve,
    payments_reconcile,
)
from .refunds import (
    credit_note_create,
    order_cancel_and_refund,
    refund_create,
    refund_for_order,
    refund_overpayment,
    refund_resolve,
    refund_sync_from_stripe,
    refundable_amount,
)
from .webhooks import SignatureError, webhook_process, webhook_receive, webhook_retry_unprocessed

__all__ = [
    "BatchItem", "card_expiry_reminders_send", "DunningRunResult", "PeriodInput", "invoices_create_for_periods", "invoices_pay_batch", "LineInput", "SignatureError", "attempt_key", "billing_account_update", "choose_payment_method",
    "credit_note_create", "customer_stripe_ensure", "dunning_record_failure", "dunning_recovered",
    "dunning_retry_customer", "dunning_run", "dunning_stop", "invoice_create", "invoice_create_for_order",
    "invoice_create_for_period", "invoice_finalize", "invoice_line_add", "invoice_mark_uncollectible",
    "invoice_pay", "invoice_send_email", "invoice_void", "lines_from_preview", "order_cancel_and_refund",
    "order_tax_calculator", "payment_attempt_begin", "payment_attempt_charge", "payment_attempt_complete",
    "payment_attempt_mark_unknown", "payment_attempt_resolve", "payment_method_detached",
    "payment_method_save", "payment_method_sync", "payments_reconcile", "refund_create",
    "refund_for_order", "refund_overpayment", "refund_resolve", "refund_sync_from_stripe", "refundable_amount",
    "setup_intent_create", "subscription_adjustments_invoice", "webhook_process", "webhook_receive",
    "webhook_retry_unprocessed",
]  # fmt: skip
