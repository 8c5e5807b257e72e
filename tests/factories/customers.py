import factory

from customers.models import Address, AddressKind, Customer


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    phone = "+1 555 0100"


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    kind = AddressKind.SHIPPING
    is_default = True
    name = factory.LazyAttribute(lambda o: o.customer.full_name)
    line1 = factory.Sequence(lambda n: f"{n} Main Street")
    city = "Springfield"
    postal_code = "12345"
    country = "US"
