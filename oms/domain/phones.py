"""Phone numbers, validated and normalized to E.164 with Google's libphonenumber data (``phonenumbers``)."""

MAX_PHONE_LENGTH = 32


def to_e164(value: str, region: str | None = None) -> str:
    """``value`` as E.164 (``+4915112345678``). A number without ``+`` is read as a national number of
    ``region`` (ISO-3166 alpha-2). ValueError says why a number is refused."""
    # Imported on first use: the library's metadata is loaded per region, only for the numbers seen.
    import phonenumbers

    if len(value) > MAX_PHONE_LENGTH:
        raise ValueError(f"a phone number has at most {MAX_PHONE_LENGTH} characters")
    try:
        number = phonenumbers.parse(value, region if not value.startswith("+") else None)
    except phonenumbers.NumberParseException:
        hint = "" if value.startswith("+") else " (or a national number of the shipping country)"
        raise ValueError(f"not a phone number: use the international format such as +4915112345678{hint}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its country; use the international format such as "
                         "+4915112345678")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
