from rest_framework import serializers

from customers.models import Address, AddressKind, Customer


class AddressSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = (
            "id",
            "kind",
            "is_default",
            "name",
            "company",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
        )
        read_only_fields = ("id",)


class AddressInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AddressKind.choices, default=AddressKind.SHIPPING)
    is_default = serializers.BooleanField(default=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, min_length=2, help_text="ISO 3166-1 alpha-2")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)


class CustomerSerializer(serializers.ModelSerializer):
    addresses = AddressSerializer(many=True, read_only=True)
    external_id = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = (
            "id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "status",
            "locale",
            "external_id",
            "addresses",
            "created_at",
            "updated_at",
        )

    def get_external_id(self, obj: Customer) -> str | None:
        refs = list(obj.references.all())  # prefetched for this channel by the selector
        return refs[0].external_id if refs else None


class CustomerCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    locale = serializers.CharField(max_length=16, required=False, default="en")
    external_id = serializers.CharField(max_length=200, required=False)
    addresses = AddressInputSerializer(many=True, required=False)


class CustomerUpsertSerializer(CustomerCreateSerializer):
    external_id = serializers.CharField(max_length=200)


class CustomerUpdateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    locale = serializers.CharField(max_length=16, required=False)
