"""ImageNet-S-50 validation images with pixel masks: the paper's evaluation data (digest D.1).

ImageNet-S (Gao et al., "Large-scale Unsupervised Semantic Segmentation", TPAMI 2022; GitHub
LUSSeg/ImageNet-S) annotates ImageNet images with semantic masks. The 50-class subset has 752 annotated
validation images. Expected local layout (as produced by the dataset's ``data_preparation.sh``)::

    <root>/ImageNetS50/validation/<wnid>/<name>.JPEG
    <root>/ImageNetS50/validation-segmentation/<wnid>/<name>.png

(``root`` may also be the ``ImageNetS50`` folder itself). A mask is an RGB PNG whose pixel class id is
``R + 256 * G``: 0 = other / background, 1000 = ignored (uncertain) pixels, ``k`` in 1..50 = the k-th class
of ImageNet-S-50, numbered in sorted-wnid order starting at 1 (the dataset README: "the i-th row is the
class id ... (start from 1)"). The binary mask of an image is ``id == class id of its folder``; ignored
pixels and other classes count as 0.

Masks re-saved by other tools are decoded by their PIL mode (:func:`decode_mask_ids`): ``RGB`` / ``RGBA`` ->
``R + 256 G`` (the official format); ``L``, ``I;16``, ``I`` (grey levels, 8 / 16 / 32 bit) -> the pixel value
is the id; ``P`` (palette) -> the palette index is the id (the palette's colours are not used). Other modes
(``1``, ``LA``, ``CMYK`` ...) are refused when the data set is scanned, naming the file and its mode. A mask
holding an id that is neither 0, 1000 nor a class id (1..50), e.g. a 0/255 binary mask, is an error naming
the file and the ids found, instead of an empty mask the evaluation would silently drop.

Class mapping: :data:`IMAGENET_S50_WNIDS` are the 50 wnids of ImageNet-S-50 (the class folders of the
dataset's ``data/names/ImageNetSemi_im50_train.txt``, sorted), and :data:`IMAGENET_S50_TO_IMAGENET` maps
each to its ImageNet-1k index, i.e. its position in the sorted list of the 1000 ImageNet wnids (read from
the standard ``imagenet_class_index.json`` and checked against torchvision's category names, see the
tests). A different mapping can be passed as ``class_index``.

Preprocessing (torchvision's ImageNet evaluation transform): resize the shorter side to
``round(image_size * 256 / 224)`` (bilinear, anti-aliased) -> centre crop ``image_size`` -> normalise with the
ImageNet mean / std. Masks: nearest-neighbour resize and the same crop.

Loading: the constructor pairs the files and checks every image and mask with PIL (``verify`` plus the
header's size and mode; a JPEG must also end with its end-of-image marker ``FF D9``, two bytes read per file,
or decode completely: ``verify`` does not notice a JPEG cut short). Unreadable and truncated files are skipped
and counted in a warning (``meta["skipped"]``: file -> reason); size mismatches and undecodable mask modes are
errors. Pixels are decoded item by item, on access (``.images`` / ``.masks`` decode everything once).

Split: ``n_val`` images, one per class in turn (random per class with ``seed``), form the selection split
``"val"``; the rest is ``"test"`` - 702 of the 752 images with ``n_val=50``. The paper (digest D.1) reports
"50 validation, 566 test" without saying which filter removes the other 136; ``test_filter`` makes the guess a
parameter: ``"all"`` (702, the default: no filter is documented), ``"single_class"`` (only images whose mask
holds no other ImageNet-S class than their own). A third guess, images the model classifies correctly, depends
on the model: the evaluation applies it per model (``test_filter="correct"`` in an evaluation profile, see
:func:`hidden_monotonicity.evaluation.backend.correctly_classified`); this loader refuses it. The count is printed.
The file lists are recorded in ``meta`` and can be written to / read from a JSON ``split_file`` to freeze them.

Fixture: :func:`write_fixture` writes a small data set in this layout (random pixels, one rectangular object per
mask), so that the ImageNet-S path - loader, notebooks, ``evaluate --profile paper`` - can be dry-run without the
data set (``python -m hidden_monotonicity fixture imagenet-s DIR``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .localisation import LocalisationDataset

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGENET_S50_NAMES",
    "IMAGENET_S50_TO_IMAGENET",
    "IMAGENET_S50_WNIDS",
    "IGNORE_ID",
    "decode_mask_ids",
    "imagenet_s",
    "imagenet_s_split",
    "mask_class_ids",
    "write_fixture",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Mask id of ignored pixels (``R + 256 G == 1000``); 0 is "other".
IGNORE_ID = 1000

#: wnid -> (ImageNet-1k index, ImageNet class name) for the 50 classes of ImageNet-S-50.
_CLASSES: dict[str, tuple[int, str]] = {
    "n01443537": (1, "goldfish"),
    "n01491361": (3, "tiger shark"),
    "n01531178": (11, "goldfinch"),
    "n01644373": (31, "tree frog"),
    "n02104029": (222, "kuvasz"),
    "n02119022": (277, "red fox"),
    "n02123597": (284, "Siamese cat"),
    "n02133161": (295, "American black bear"),
    "n02165456": (301, "ladybug"),
    "n02281406": (325, "sulphur butterfly"),
    "n02325366": (330, "wood rabbit"),
    "n02342885": (333, "hamster"),
    "n02396427": (342, "wild boar"),
    "n02483362": (368, "gibbon"),
    "n02504458": (386, "African elephant"),
    "n02510455": (388, "giant panda"),
    "n02690373": (404, "airliner"),
    "n02747177": (412, "ashcan"),
    "n02783161": (418, "ballpoint"),
    "n02814533": (436, "beach wagon"),
    "n02859443": (449, "boathouse"),
    "n02917067": (466, "bullet train"),
    "n02992529": (487, "cellular telephone"),
    "n03014705": (492, "chest"),
    "n03047690": (502, "clog"),
    "n03095699": (510, "container ship"),
    "n03197337": (531, "digital watch"),
    "n03201208": (532, "dining table"),
    "n03445777": (574, "golf ball"),
    "n03452741": (579, "grand piano"),
    "n03584829": (606, "iron"),
    "n03630383": (617, "lab coat"),
    "n03775546": (659, "mixing bowl"),
    "n03791053": (670, "motor scooter"),
    "n03874599": (695, "padlock"),
    "n03891251": (703, "park bench"),
    "n04026417": (748, "purse"),
    "n04335435": (829, "streetcar"),
    "n04380533": (846, "table lamp"),
    "n04404412": (851, "television"),
    "n04447861": (861, "toilet seat"),
    "n04507155": (879, "umbrella"),
    "n04522168": (883, "vase"),
    "n04557648": (898, "water bottle"),
    "n04562935": (900, "water tower"),
    "n04612504": (914, "yawl"),
    "n06794110": (919, "street sign"),
    "n07749582": (951, "lemon"),
    "n07831146": (959, "carbonara"),
    "n12998815": (992, "agaric"),
}
#: The 50 wnids of ImageNet-S-50, sorted (mask class id = position + 1).
IMAGENET_S50_WNIDS: tuple[str, ...] = tuple(sorted(_CLASSES))
#: wnid -> ImageNet-1k class index (position of the wnid among the 1000 sorted ImageNet wnids).
IMAGENET_S50_TO_IMAGENET: dict[str, int] = {wnid: index for wnid, (index, _) in _CLASSES.items()}
#: wnid -> ImageNet class name.
IMAGENET_S50_NAMES: dict[str, str] = {wnid: name for wnid, (_, name) in _CLASSES.items()}

_LAYOUT = (
    "expected the ImageNet-S-50 layout\n"
    "    <root>/ImageNetS50/validation/<wnid>/<name>.JPEG\n"
    "    <root>/ImageNetS50/validation-segmentation/<wnid>/<name>.png\n"
    "(root may also be the ImageNetS50 folder itself). Prepare it with LUSSeg/ImageNet-S's "
    "datapreparation scripts (split 50) from a local ImageNet-1k copy."
)
_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
#: PIL modes of class-id masks, by how the id of a pixel is read (see :func:`decode_mask_ids`).
_RGB_ID_MODES = frozenset({"RGB", "RGBA"})  # id = R + 256 G (the official ImageNet-S encoding)
_VALUE_ID_MODES = frozenset({"L", "I", "I;16", "I;16L", "I;16B", "I;16N"})  # id = grey value
_INDEX_ID_MODES = frozenset({"P"})  # id = palette index
_MASK_MODES = _RGB_ID_MODES | _VALUE_ID_MODES | _INDEX_ID_MODES
#: JPEG end-of-image marker: the last two bytes of a complete JPEG file.
_JPEG_END = b"\xff\xd9"


def mask_class_ids(wnids: tuple[str, ...] = IMAGENET_S50_WNIDS) -> dict[str, int]:
    """ImageNet-S mask class id of every wnid: 1 + its position in the sorted wnid list."""
    return {wnid: position + 1 for position, wnid in enumerate(sorted(wnids))}


def _dataset_folder(root: str | Path) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet-S root {root} does not exist or is not a folder; {_LAYOUT}")
    for candidate in (root / "ImageNetS50", root):
        if (candidate / "validation").is_dir() and (candidate / "validation-segmentation").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no 'validation' and 'validation-segmentation' folders under {root} or {root / 'ImageNetS50'}; {_LAYOUT}"
    )


def _scan(folder: Path, class_index: Mapping[str, int]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Pair images with masks; returns ``[(wnid, stem)]`` of readable pairs and the skipped files with the reason.

    Every file is opened and ``verify()``-ed by PIL; a JPEG is also checked for truncation (:func:`_jpeg_truncation`)
    and a mask for a mode :func:`decode_mask_ids` can read.
    """
    from PIL import Image, UnidentifiedImageError

    image_root, mask_root = folder / "validation", folder / "validation-segmentation"
    images = {
        (path.parent.name, path.stem): path
        for path in image_root.glob("*/*")
        if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file()
    }
    masks = {(path.parent.name, path.stem): path for path in mask_root.glob("*/*.png") if path.is_file()}
    if not images:
        raise FileNotFoundError(f"no images found in {image_root}/<wnid>/; {_LAYOUT}")
    unknown = sorted({wnid for wnid, _ in images} - set(class_index))
    if unknown:
        raise ValueError(
            f"class folders {unknown[:5]}{' ...' if len(unknown) > 5 else ''} in {image_root} are not ImageNet-S-50 "
            f"classes; pass class_index={{wnid: imagenet_index}} to use other classes"
        )
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask or no_image:
        details = []
        if no_mask:
            details.append(f"{len(no_mask)} image(s) without a mask, e.g. {'/'.join(no_mask[0])}")
        if no_image:
            details.append(f"{len(no_image)} mask(s) without an image, e.g. {'/'.join(no_image[0])}")
        raise ValueError(
            f"images and masks do not match ({len(images)} images, {len(masks)} masks): {'; '.join(details)}. "
            f"Every validation/<wnid>/<name>.JPEG needs validation-segmentation/<wnid>/<name>.png"
        )
    pairs: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    mismatched: list[str] = []
    bad_modes: list[str] = []
    for key in sorted(images):
        sizes = []
        for path in (images[key], masks[key]):
            try:
                with Image.open(path) as opened:
                    size, mode, file_format = opened.size, opened.mode, opened.format  # from the header
                    opened.verify()  # reads the file, catches corrupt data without decoding (not a cut JPEG)
                truncation = _jpeg_truncation(path) if file_format == "JPEG" else None
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
                skipped[str(path.relative_to(folder))] = f"unreadable ({type(error).__name__}: {error})"
                break
            if truncation is not None:
                skipped[str(path.relative_to(folder))] = truncation
                break
            if path == masks[key] and mode not in _MASK_MODES:
                bad_modes.append(f"{path} has PIL mode {mode!r}")
            sizes.append(size)
        if len(sizes) < 2:
            continue
        if sizes[0] != sizes[1]:
            mismatched.append(f"{'/'.join(key)}: image {sizes[0]} vs mask {sizes[1]}")
            continue
        pairs.append(key)
    if bad_modes:
        raise ValueError(
            f"{len(bad_modes)} mask(s) in a mode whose class ids cannot be decoded, e.g. {bad_modes[0]}; masks must "
            f"be RGB/RGBA (id = R + 256 G, the ImageNet-S format), L / I;16 / I (id = grey value) or P (id = "
            f"palette index) images of class ids"
        )
    if mismatched:
        raise ValueError(
            f"{len(mismatched)} image/mask pair(s) differ in size (width, height), e.g. {mismatched[0]}; "
            f"masks must have the size of their image"
        )
    return pairs, skipped


def _jpeg_truncation(path: Path) -> str | None:
    """Why the JPEG ``path`` is cut short, or None when it is complete.

    A complete JPEG ends with the end-of-image marker ``FF D9``: reading the last two bytes settles almost every
    file. A file ending otherwise (some writers append padding after the marker) is decoded in full, and only a
    failing decode makes it truncated.
    """
    from PIL import Image

    with path.open("rb") as handle:
        handle.seek(0, 2)
        length = handle.tell()
        handle.seek(max(length - 2, 0))
        if handle.read(2) == _JPEG_END:
            return None
    try:
        with Image.open(path) as opened:
            opened.load()
    except (OSError, SyntaxError, ValueError) as error:
        return f"truncated JPEG (no end-of-image marker FF D9 and decoding fails: {error})"
    return None


def imagenet_s_split(
    pairs: list[tuple[str, str]], *, n_val: int = 50, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split ``[(wnid, stem)]`` into selection (``n_val``) and test file names ``"<wnid>/<stem>"``.

    Round-robin over the classes (sorted wnids), drawing each class's images in a random order seeded by
    ``seed``: with 50 classes and ``n_val=50`` every class contributes one selection image.
    """
    if not 0 <= n_val <= len(pairs):
        raise ValueError(f"n_val must lie in [0, {len(pairs)}] (the number of images), got {n_val}")
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[str]] = {}
    for wnid, stem in sorted(pairs):
        by_class.setdefault(wnid, []).append(f"{wnid}/{stem}")
    queues = {wnid: [names[i] for i in rng.permutation(len(names))] for wnid, names in sorted(by_class.items())}
    selection: list[str] = []
    while len(selection) < n_val:
        for wnid in sorted(queues):
            if queues[wnid] and len(selection) < n_val:
                selection.append(queues[wnid].pop(0))
    chosen = set(selection)
    test = [f"{wnid}/{stem}" for wnid, stem in sorted(pairs) if f"{wnid}/{stem}" not in chosen]
    return sorted(selection), test


def imagenet_s(
    root: str | Path,
    split: Literal["val", "test", "all"] = "test",
    *,
    n_val: int = 50,
    seed: int = 0,
    image_size: int = 224,
    split_file: str | Path | None = None,
    class_index: Mapping[str, int] | None = None,
    test_filter: Literal["all", "single_class"] = "all",
) -> LocalisationDataset:
    """ImageNet-S-50 validation images as a lazily read :class:`LocalisationDataset`.

    Args:
        root: folder holding ``ImageNetS50/`` (or that folder itself); see the module docstring.
        split: ``"val"`` (the ``n_val`` selection images), ``"test"`` (the rest) or ``"all"``.
        n_val: size of the selection split (paper: 50).
        seed: seed of the selection split.
        image_size: side of the centre crop (224 for VGG16 / ResNet18).
        split_file: JSON file with ``{"val": [...], "test": [...]}`` names ``"<wnid>/<stem>"``; read when it
            exists (``n_val`` and ``seed`` are then ignored), written otherwise.
        class_index: wnid -> ImageNet-1k index; default :data:`IMAGENET_S50_TO_IMAGENET`.
        test_filter: ``"all"`` or ``"single_class"`` (test images whose mask shows no other ImageNet-S class);
            see the module docstring.

    Returns:
        Items ``(image (3, S, S) ImageNet-normalised, ImageNet class index, mask (1, S, S) in {0, 1})``;
        ``class_names`` are torchvision's 1000 ImageNet category names; ``sample_info`` has ``file``
        (``"<wnid>/<stem>"``), ``wnid`` and ``mask_class_id``. Files that cannot be read or are truncated are
        skipped with a warning (``meta["skipped"]`` maps each to the reason).

    Raises:
        FileNotFoundError: ``root`` lacks the expected folders (the message shows the layout).
        ValueError: images and masks do not pair up or differ in size, unknown class folders, bad split, a
            mask mode that holds no class ids; on access: a mask with ids outside 0, 1..50 and 1000.
    """
    if split not in ("val", "test", "all"):
        raise ValueError(f"split must be 'val', 'test' or 'all', got {split!r}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8, got {image_size}")
    index = dict(IMAGENET_S50_TO_IMAGENET if class_index is None else class_index)
    folder = _dataset_folder(root)
    pairs, skipped = _scan(folder, index)
    if skipped:
        first = next(iter(skipped))
        warnings.warn(
            f"skipped {len(skipped)} unreadable ImageNet-S file(s) (and their partner image/mask), "
            f"e.g. {first}: {skipped[first]} (all in meta['skipped'])",
            RuntimeWarning,
            stacklevel=2,
        )
    if not pairs:
        raise ValueError(f"no readable image/mask pairs under {folder}; {_LAYOUT}")
    available = {f"{wnid}/{stem}" for wnid, stem in pairs}
    split_path = Path(split_file) if split_file is not None else None
    if split_path is not None and split_path.is_file():
        recorded = json.loads(split_path.read_text())
        if not isinstance(recorded, dict) or not {"val", "test"} <= set(recorded):
            raise ValueError(f"split file {split_path} must hold a JSON object with 'val' and 'test' lists")
        val_names, test_names = list(recorded["val"]), list(recorded["test"])
        missing = sorted((set(val_names) | set(test_names)) - available)
        if missing:
            raise ValueError(f"split file {split_path} names {len(missing)} image(s) not found or unreadable, e.g. {missing[0]}")
        split_origin = str(split_path)
    else:
        val_names, test_names = imagenet_s_split(pairs, n_val=n_val, seed=seed)
        split_origin = f"imagenet_s_split(n_val={n_val}, seed={seed})"
        if split_path is not None:
            split_path.parent.mkdir(parents=True, exist_ok=True)
            split_path.write_text(json.dumps({"n_val": n_val, "seed": seed, "val": val_names, "test": test_names}, indent=1) + "\n")
    mask_ids = mask_class_ids(tuple(sorted(index)))
    valid_ids = frozenset(mask_ids.values()) | {0, IGNORE_ID}
    if test_filter == "correct":
        raise ValueError("test_filter='correct' needs the model, which this loader does not have: set it in the "
                         "evaluation profile (dataset_kwargs, or evaluate --test-filter correct), where the runner "
                         "applies it per model; here use 'all' or 'single_class'")
    if test_filter not in ("all", "single_class"):
        raise ValueError(f"test_filter must be 'all' or 'single_class', got {test_filter!r}")
    n_unfiltered = len(test_names)
    if test_filter == "single_class":
        test_names = [n for n in test_names if _single_class(folder / "validation-segmentation" / f"{n}.png",
                                                             mask_ids[n.split("/")[0]], valid_ids)]
    if split == "test":
        print(f"ImageNet-S-50 test split: {len(test_names)} images (test_filter={test_filter!r}; "
              f"{n_unfiltered} before filtering, {len(val_names)} validation images)")
    names = {"val": val_names, "test": test_names, "all": sorted(available)}[split]
    wnids = [name.split("/")[0] for name in names]
    resize_to = int(round(image_size * 256 / 224))

    def load(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        wnid, stem = names[i].split("/", 1)
        image_path = _find_image(folder / "validation" / wnid, stem)
        mask_path = folder / "validation-segmentation" / wnid / f"{stem}.png"
        return _load_pair(image_path, mask_path, mask_ids[wnid], valid_ids, resize_to, image_size)

    from torchvision.models import VGG16_Weights

    meta = {
        "source": "ImageNet-S-50 validation (LUSSeg/ImageNet-S)",
        "root": str(folder),
        "split": split,
        "seed": seed,
        "n_val": len(val_names),
        "split_origin": split_origin,
        "test_filter": test_filter,
        "n_test_before_filter": n_unfiltered,
        "val_files": val_names,
        "test_files": test_names,
        "skipped": skipped,
        "image_size": image_size,
        "resize": resize_to,
        "preprocessing": "resize shorter side (bilinear, antialias) -> center crop -> ImageNet normalise; masks nearest",
    }
    return LocalisationDataset(
        None,
        [index[wnid] for wnid in wnids],
        None,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        class_names=list(VGG16_Weights.IMAGENET1K_V1.meta["categories"]),
        meta=meta,
        loader=load,
        sample_info={
            "file": np.array(names, dtype=object),
            "wnid": np.array(wnids, dtype=object),
            "mask_class_id": np.array([mask_ids[w] for w in wnids], dtype=np.int64),
        },
    )


def _find_image(class_folder: Path, stem: str) -> Path:
    for path in class_folder.glob(f"{stem}.*"):
        if path.suffix.lower() in _IMAGE_SUFFIXES:
            return path
    raise FileNotFoundError(f"image {class_folder / stem}.JPEG disappeared since the dataset was scanned")


def decode_mask_ids(image: Any, path: str | Path = "<mask>", valid_ids: Collection[int] | None = None) -> np.ndarray:
    """Class id of every pixel of an opened mask image, as an int64 ``(H, W)`` array, read by its PIL mode.

    ``RGB`` / ``RGBA``: ``R + 256 G`` (ImageNet-S's own encoding); ``L``, ``I;16``, ``I``: the grey value; ``P``: the
    palette index (not the palette colour). With ``valid_ids`` (0, 1000 and the class ids), an id outside it is a
    ValueError naming the file and the ids found: a re-encoded mask (0/255 binary, JPEG-compressed, resized with
    interpolation) would otherwise give empty masks, which the evaluation drops without saying why.

    Raises:
        ValueError: a mode without class ids (``1``, ``LA``, ``CMYK`` ...), or ids outside ``valid_ids``.
    """
    mode = image.mode
    if mode in _RGB_ID_MODES:
        rgb = np.asarray(image, dtype=np.int64)
        ids, encoding = rgb[..., 0] + 256 * rgb[..., 1], "R + 256 G"
    elif mode in _VALUE_ID_MODES or mode in _INDEX_ID_MODES:
        ids = np.asarray(image).astype(np.int64)
        encoding = "palette index" if mode in _INDEX_ID_MODES else "grey value"
    else:
        raise ValueError(
            f"cannot decode the mask {path}: PIL mode {mode!r} holds no class ids; save masks as RGB (id = R + 256 G, "
            f"the ImageNet-S format), L / I;16 (id = grey value) or P (id = palette index)"
        )
    if valid_ids is not None:
        found = np.unique(ids)
        unknown = [int(v) for v in found if int(v) not in valid_ids]
        if unknown:
            known = sorted(set(valid_ids) - {0, IGNORE_ID})
            classes = f"{known[0]}..{known[-1]}" if known else "none"
            raise ValueError(
                f"mask {path} (PIL mode {mode!r}, id = {encoding}) holds ids {unknown[:10]}"
                f"{' ...' if len(unknown) > 10 else ''} that are not ImageNet-S ids (0 = other, {classes} = classes, "
                f"{IGNORE_ID} = ignored; ids found: {[int(v) for v in found[:12]]}); a 0/255 binary, JPEG-compressed "
                f"or interpolated mask is not a class-id mask: use the dataset's own masks"
            )
    return ids


def _read_mask_ids(path: Path, valid_ids: Collection[int]) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as opened:
        return decode_mask_ids(opened, path, valid_ids)


def _load_pair(
    image_path: Path, mask_path: Path, class_id: int, valid_ids: Collection[int], resize_to: int, crop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read, resize, crop and normalise one image and binarise its mask (``id == class_id``)."""
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    with Image.open(image_path) as opened:
        image = opened.convert("RGB")
    ids = _read_mask_ids(mask_path, valid_ids)
    binary = Image.fromarray(((ids == class_id) * 255).astype(np.uint8), mode="L")
    image = TF.center_crop(TF.resize(image, resize_to, interpolation=InterpolationMode.BILINEAR, antialias=True), crop)
    binary = TF.center_crop(TF.resize(binary, resize_to, interpolation=InterpolationMode.NEAREST), crop)
    tensor = TF.normalize(TF.to_tensor(image), IMAGENET_MEAN, IMAGENET_STD)
    mask = torch.from_numpy((np.asarray(binary) > 127).astype(np.float32))[None]
    return tensor, mask


def _single_class(mask_path: Path, class_id: int, valid_ids: Collection[int]) -> bool:
    """True when the mask's pixel ids hold no ImageNet-S class other than ``class_id``."""
    ids = set(np.unique(_read_mask_ids(mask_path, valid_ids)).tolist()) - {0, IGNORE_ID}
    return ids <= {class_id}


#: Classes of :func:`write_fixture`: goldfish (mask id 1) and African elephant (mask id 15).
FIXTURE_CLASSES: tuple[str, ...] = ("n01443537", "n02504458")


def write_fixture(root: str | Path, *, classes: tuple[str, ...] = FIXTURE_CLASSES, per_class: int = 26,
                  seed: int = 0) -> Path:
    """Write a small ImageNet-S-50 copy in the official layout under ``root`` and return ``root``.

    ``per_class`` JPEG images of random pixels per class (heights ``40 + 2k``, width 60, so that the resize-and-crop
    path is exercised) with RGB PNG masks in the dataset's encoding (id = R + 256 G): the own class id in a central
    rectangle, 1000 (ignored) in the top five rows, 0 elsewhere. The default 2 x 26 = 52 images give the paper's
    split 50 validation + 2 test images (:func:`imagenet_s` with ``n_val=50``). It is what the tests use and what
    ``python -m hidden_monotonicity fixture imagenet-s DIR`` writes, so that anyone can dry-run the paper setting
    (``evaluate --profile paper --data-dir DIR --weights random ...``) without the data set.

    Raises:
        ValueError: a class that is not an ImageNet-S-50 wnid, ``per_class < 1``, or ``root`` already holds an
            ``ImageNetS50`` folder with files (the fixture never mixes with, or overwrites, a data set).
    """
    from PIL import Image

    unknown = sorted(set(classes) - set(IMAGENET_S50_WNIDS))
    if unknown or not classes:
        raise ValueError(f"classes must be ImageNet-S-50 wnids (IMAGENET_S50_WNIDS), got unknown {unknown or 'none'}")
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a whole number >= 1, got {per_class!r}")
    root = Path(root).expanduser()
    dataset = root / "ImageNetS50"
    if dataset.exists() and any(dataset.rglob("*")):
        raise ValueError(f"{dataset} already holds files; write the fixture into a new or empty folder")
    rng = np.random.default_rng(seed)
    class_ids = mask_class_ids()
    for wnid in classes:
        image_dir = dataset / "validation" / wnid
        mask_dir = dataset / "validation-segmentation" / wnid
        image_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            height, width = 40 + 2 * k, 60
            Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(
                image_dir / f"{wnid}_{k}.JPEG", quality=90)
            ids = np.zeros((height, width), dtype=np.int64)
            ids[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = class_ids[wnid]
            ids[:5] = IGNORE_ID
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
            rgb[..., 0], rgb[..., 1] = ids % 256, ids // 256
            Image.fromarray(rgb).save(mask_dir / f"{wnid}_{k}.png")
    return root
