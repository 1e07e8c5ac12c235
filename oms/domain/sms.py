"""How an SMS is encoded and how many parts it takes (3GPP TS 23.038): GSM-7 fits 160 characters in one part,
anything outside GSM-7 switches the whole text to UCS-2 and 70 characters."""

from dataclasses import dataclass

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two septets each (escape + character)


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int

    @property
    def single(self) -> bool:
        return self.parts == 1


def measure(text: str) -> SmsSize:
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return SmsSize("GSM-7", units, 1 if units <= 160 else -(-units // 153))
    units = len(text.encode("utf-16-le")) // 2
    return SmsSize("UCS-2", units, 1 if units <= 70 else -(-units // 67))


def non_gsm_characters(text: str) -> list[str]:
    return sorted({ch for ch in text if ch not in _GSM7_BASIC and ch not in _GSM7_EXTENDED})
