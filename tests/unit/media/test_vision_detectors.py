"""Each vision detector on real pictures (photos shipped in scikit-image) made the way the
wall makes them: a VP8 keyframe decoded and scaled by media.picture_codec."""

from __future__ import annotations

import numpy as np

from bench import vision_fixtures as fx
from media.detectors import dark, faces, frozen


def luma(rgb: np.ndarray) -> np.ndarray:
    return fx.picture(rgb).to_ndarray(format="gray")


def test_black_and_covered_are_dark_a_dim_room_is_not() -> None:
    rng = np.random.default_rng(1)
    black = luma(np.zeros((fx.HEIGHT, fx.WIDTH, 3), np.uint8))
    finger = luma(fx.covered(rng, 25.0, (1.0, 0.55, 0.45)))
    paper = luma(fx.covered(rng, 180.0, (1.0, 1.0, 1.0), vignette=0.03))
    assert dark.is_dark(dark.exposure(black))
    assert dark.is_dark(dark.exposure(finger))
    assert dark.is_dark(dark.exposure(paper))  # even: covered whatever its brightness
    lit = luma(fx.scene("coffee"))
    dim = luma((fx.scene("astronaut") * 0.3).astype(np.uint8))
    assert not dark.is_dark(dark.exposure(lit))
    found = dark.exposure(dim)
    assert found.mean < dark.MAX_MEAN + 20 and not dark.is_dark(found)  # dim, but it spreads


def test_the_same_picture_sent_again_is_frozen_a_moving_person_is_not() -> None:
    back = fx.scene("coffee")
    again = fx.camera_pictures([back] * 12, 6, 300_000)
    assert len(again) == 2
    a, b = (frozen.small(p.to_ndarray(format="gray")) for p in again)
    assert frozen.is_same(frozen.difference(a, b))
    face = fx.lfw_faces()[3]
    moving = [fx.paste(back, face, 240, 140, 200)] * 6 + [fx.paste(back, face, 250, 144, 200)] * 6
    c, d = (frozen.small(p.to_ndarray(format="gray")) for p in fx.camera_pictures(moving, 6))
    assert not frozen.is_same(frozen.difference(c, d))


def test_faces_counted_on_real_photos() -> None:
    astronaut = fx.paste(fx.scene("brick"), fx.astronaut(), 160, 40, 360)
    assert faces.count(luma(astronaut)) == 1
    two = fx.paste(fx.paste(fx.scene("brick"), fx.astronaut(), 20, 100, 280), fx.lfw_faces()[0],
                   340, 120, 240)  # fmt: skip
    assert faces.count(luma(two)) == 2
    assert faces.count(luma(fx.scene("coffee"))) == 0
    assert faces.count(luma(fx.scene("chelsea"))) == 0  # a cat is not a candidate


def test_the_face_model_ships_inside_the_package() -> None:
    assert faces.CASCADE.is_file()
    assert "site-packages" in str(faces.CASCADE) or "dist-packages" in str(faces.CASCADE)
