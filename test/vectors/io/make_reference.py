#!/usr/bin/python3
"""Reference tensors for test/io/pil-parity.test.ts, made with Debian's python3-pil (PIL 9.4).

Each reference is the uint8 image a torchvision-style pipeline hands to ToTensor(), channels first
([C, H, W]), as a .npy file: Resize(shorter side, BILINEAR — PIL's antialiased filter, torchvision's
default for PIL images) then CenterCrop (top/left = round((in - out) / 2), Python's round), or a
plain resize to an exact size. torchvision itself is not needed: on PIL images, Resize and
CenterCrop are exactly these PIL calls.

    rocket.jpg        the photo (scikit-image's data/rocket.jpg, public domain, from Debian's
                      python3-skimage): Resize(256) + CenterCrop(224), RGB -> rocket.imagenet.npy
    rocket.webp       the photo re-encoded by PIL as lossy WebP (quality 80):
                      Resize(64) + CenterCrop(56), RGB -> rocket.webp.npy
    rocket-small.png  the photo shrunk by PIL to 160x107 (BILINEAR), saved as PNG:
                      convert('L') + resize to 48x32 -> rocket-small.gray.npy

Run from this directory: /usr/bin/python3 make_reference.py
"""
import struct

from PIL import Image


def save_npy(path, im, channels):
    """Writes the uint8 pixels of `im` as a [channels, height, width] .npy (format 1.0)."""
    w, h = im.size
    data = im.tobytes()  # interleaved, row-major
    planar = bytes(data[(y * w + x) * channels + c] for c in range(channels) for y in range(h) for x in range(w))
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d), }" % (channels, h, w)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + planar)


def resize_shorter(im, size):
    w, h = im.size
    if w <= h:
        return im.resize((size, int(size * h / w)), Image.BILINEAR)
    return im.resize((int(size * w / h), size), Image.BILINEAR)


def center_crop(im, out):
    w, h = im.size
    top, left = int(round((h - out) / 2.0)), int(round((w - out) / 2.0))
    return im.crop((left, top, left + out, top + out))


photo = Image.open("rocket.jpg").convert("RGB")
save_npy("rocket.imagenet.npy", center_crop(resize_shorter(photo, 256), 224), 3)

photo.save("rocket.webp", quality=80)
webp = Image.open("rocket.webp").convert("RGB")
save_npy("rocket.webp.npy", center_crop(resize_shorter(webp, 64), 56), 3)

photo.resize((160, 107), Image.BILINEAR).save("rocket-small.png")
small = Image.open("rocket-small.png").convert("L")
save_npy("rocket-small.gray.npy", small.resize((48, 32), Image.BILINEAR), 1)
