"""The published CycleGAN generators (the official pytorch-CycleGAN-and-pix2pix release) as model
cards, and the converter that turns their ``.pth`` files into paint models (PAINT_FORMAT.md).

Each published file holds one generator (one direction) in the official ``resnet_9blocks``
layout, ngf 64, plus stray InstanceNorm buffers. No checksums are published for them: the
first download is trusted and its sha256 recorded (trust on first use, studio.models).
``studio models download paint.style_monet`` fetches and converts one;
``studio models import style_monet.pth --id paint.style_monet`` converts a local copy.
"""

from __future__ import annotations

from typing import Any

from studio.errors import UserError

ADDRESS = "https://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{name}.pth"
LICENCE = "BSD (the CycleGAN authors' release); the training pictures have their own terms"

# name -> (domain A, domain B, training data)
PUBLISHED: dict[str, tuple[str, str, str]] = {
    "apple2orange": ("apple", "orange", "ImageNet apples and oranges"),
    "orange2apple": ("orange", "apple", "ImageNet apples and oranges"),
    "summer2winter_yosemite": ("summer", "winter", "Flickr photos of Yosemite"),
    "winter2summer_yosemite": ("winter", "summer", "Flickr photos of Yosemite"),
    "horse2zebra": ("horse", "zebra", "ImageNet horses and zebras"),
    "zebra2horse": ("zebra", "horse", "ImageNet horses and zebras"),
    "monet2photo": ("Monet", "photo", "Monet paintings (WikiArt) and Flickr landscape photos"),
    "style_monet": ("photo", "Monet", "Flickr landscape photos and Monet paintings (WikiArt)"),
    "style_cezanne": ("photo", "Cézanne", "Flickr landscape photos and Cézanne paintings "
                                          "(WikiArt)"),
    "style_ukiyoe": ("photo", "Ukiyo-e", "Flickr landscape photos and Ukiyo-e prints "
                                         "(WikiArt)"),
    "style_vangogh": ("photo", "Van Gogh", "Flickr landscape photos and Van Gogh paintings "
                                           "(WikiArt)"),
    "sat2map": ("satellite photo", "map", "Google Maps satellite and map tiles"),
    "map2sat": ("map", "satellite photo", "Google Maps satellite and map tiles"),
    "cityscapes_photo2label": ("street photo", "label map", "Cityscapes"),
    "cityscapes_label2photo": ("label map", "street photo", "Cityscapes"),
    "facades_photo2label": ("facade photo", "label map", "CMP Facades"),
    "facades_label2photo": ("label map", "facade photo", "CMP Facades"),
    "iphone2dslr_flower": ("iPhone photo", "DSLR photo", "Flickr flower photos (iPhone and "
                                                         "DSLR with shallow depth of field)"),
}
NGF, N_BLOCKS, TRAIN_SIZE = 64, 9, 256


def published_card(name: str) -> Any:
    """The card of one published generator: ``paint.<name>``, known but not installed until it
    is downloaded or imported; its ``convert`` turns the published file into a paint model."""
    from studio.models import ModelCard, ModelFile
    from studio_paint.loading import ARCHITECTURE

    a, b, data = PUBLISHED[name]
    card = ModelCard(
        id=f"paint.{name}", capability="paint", title=f"{a} to {b} (published CycleGAN)",
        architecture=ARCHITECTURE,
        config={"ngf": NGF, "n_blocks": N_BLOCKS, "domains": {"a": a, "b": b},
                "default_direction": "a2b", "train_size": TRAIN_SIZE},
        files=[ModelFile(f"{name}.pth", "", 0, ADDRESS.format(name=name))],
        licence=LICENCE, training_data=data,
        command=f"studio models download paint.{name}",
        quality={},
        description=(f"The CycleGAN authors' pretrained {name} generator ({a} to {b}), one "
                     "direction, resnet_9blocks, trained at 256 px. No checksum is published: "
                     "the first download is trusted and its sha256 recorded."),
    )
    card.convert = convert_published
    return card


def published_cards() -> list[Any]:
    return [published_card(name) for name in PUBLISHED]


def convert_published(state: dict[str, Any], card: Any) -> dict[str, Any]:
    """A published generator's state dict (``model.1.weight``, ... plus stray InstanceNorm
    buffers; or ``module.``-prefixed, as DataParallel saves) as a paint model's tensors: the
    buffers dropped, the keys under ``a2b.``, every key and shape checked against the card's
    ngf and blocks. A state dict already in the paint layout (``a2b.``/``b2a.`` keys) is
    checked as it is. Anything else raises UserError naming the keys."""
    from studio_paint.cyclegan import is_stray_norm_buffer
    from studio_paint.loading import check_card, split_directions, upsample_of

    ngf, n_blocks = check_card(card)
    keys = list(state)
    if keys and all(k.startswith(("a2b.", "b2a.")) for k in keys):
        out = {k: v for k, v in state.items() if not is_stray_norm_buffer(k)}
    else:
        stripped = {k.removeprefix("module."): v for k, v in state.items()}
        out = {f"a2b.{k}": v for k, v in stripped.items() if not is_stray_norm_buffer(k)}
    if not out:
        raise UserError("it holds only InstanceNorm buffers, no weights")
    split_directions(out, ngf, n_blocks, "", upsample_of(card))
    return out
