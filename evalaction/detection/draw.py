"""Images with their ground truth and a model's detections drawn on them (PIL), for the report's worst cases.

Colours: ground truth matched (green) or missed (orange, thicker); detections that are true positives (blue)
or errors (red, labelled with the TIDE type). Small images are scaled up (nearest neighbour) so that labels
stay readable; large ones are scaled down to keep the report light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GT_OK = (34, 160, 60)
GT_MISSED = (245, 140, 0)
DET_TP = (30, 90, 220)
DET_ERROR = (215, 30, 40)


@dataclass(frozen=True)
class DrawnBox:
    bbox: list[float]  # COCO [x, y, width, height] in image pixels
    label: str
    color: tuple[int, int, int]
    width: int = 2


def _scale(width: int, height: int, target: int = 480) -> float:
    """Integer upscale for small images (crisp pixels), a plain downscale for large ones."""
    longest = max(width, height)
    if longest >= target:
        return target / longest
    return float(max(1, target // longest))


def draw_boxes(image_path: Path, boxes: list[DrawnBox], out_path: Path, *, title: str = "") -> Path:
    """Draw `boxes` on the image and save a PNG at `out_path`."""
    from PIL import Image, ImageDraw, ImageFont

    with Image.open(image_path) as im:
        img = im.convert("RGB")
    s = _scale(*img.size)
    if s != 1.0:
        size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
        img = img.resize(size, Image.Resampling.NEAREST if s > 1 else Image.Resampling.BILINEAR)
    banner = 16 if title else 0
    canvas = Image.new("RGB", (img.width, img.height + banner), (255, 255, 255))
    canvas.paste(img, (0, banner))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    if title:
        draw.text((3, 2), title, fill=(0, 0, 0), font=font)
    for b in boxes:
        x, y, w, h = (v * s for v in b.bbox)
        y += banner
        draw.rectangle([x, y, x + max(w, 1), y + max(h, 1)], outline=b.color, width=b.width)
        if b.label:
            tx, ty = x + 1, max(banner, y - 11)
            left, top, right, bottom = draw.textbbox((tx, ty), b.label, font=font)
            draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=b.color)
            draw.text((tx, ty), b.label, fill=(255, 255, 255), font=font)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out_path, format="PNG", optimize=True)
    return out_path
