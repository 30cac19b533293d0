"""QR codes as inline SVG, rendered once per request and stored."""

import qrcode
import qrcode.image.svg


def render_svg(payload: str) -> str:
    image = qrcode.make(payload, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    # Drop the XML declaration so it embeds in HTML.
    if svg.startswith("<?xml"):
        svg = svg.split("?>", 1)[1]
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code" ', 1)
