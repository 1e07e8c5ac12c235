"""Carriers' public tracking pages, by the carrier names shops and EasyPost use."""

from urllib.parse import quote

_TRACKING_PAGES = {
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "dhlexpress": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "dhlpaket": "https://www.dhl.de/de/privatkunden/dhl-sendungsverfolgung.html?piececode={number}",
    "royalmail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "laposte": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code={number}",
    "correos": "https://www.correos.es/es/en/tools/tracker/items/details?tracking-number={number}",
    "canadapost": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{number}",
    "auspost": "https://auspost.com.au/mypost/track/details/{number}",
}


def tracking_url(carrier: str, tracking_number: str) -> str | None:
    """The carrier's public tracking page for the parcel, or None for a carrier we do not know."""
    key = "".join(ch for ch in carrier.lower() if ch.isalnum())
    page = _TRACKING_PAGES.get(key)
    return page.format(number=quote(tracking_number, safe="")) if page else None
