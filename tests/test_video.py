"""The moving-shapes videos (utils.video) and the Video-Pixel-Network-style model (utils.models.video_pixelcnn)."""
import pytest
import torch

from utils.checks import dependency_report
from utils.models.video_pixelcnn import VideoPixelCNN
from utils.ordering import model_order
from utils.sampling import categorical_log_prob, sample
from utils.video import clip_strips, draw_clips, moving_shapes, nats_per_frame

# ----------------------------------------------------------------------------------------------
# the data


def small_data(**options):
    return moving_shapes(n_train=60, n_valid=20, n_test=30, **options)


def test_moving_shapes_is_deterministic_with_the_right_shapes_and_values():
    data, again = small_data(), small_data()
    for split, n in (("train", 60), ("validation", 20), ("test", 30)):
        x = getattr(data, split)
        assert x.shape == (n, 8, 12, 12) and x.dtype == torch.long
        assert set(x.unique().tolist()) == {0, 1}
        assert torch.equal(x, getattr(again, split)), f"the {split} split changed between calls"
    assert data.num_values == 2 and data.shape == (8, 12, 12)
    other = moving_shapes(n_train=5, n_valid=5, n_test=5, num_frames=6, size=14)
    assert other.train.shape == (5, 6, 14, 14)
    # the validation split is drawn last: its size leaves train and test as they were
    resized = moving_shapes(n_train=60, n_valid=7, n_test=30)
    assert torch.equal(resized.train, data.train) and torch.equal(resized.test, data.test)


def test_splits_are_disjoint():
    data = moving_shapes(n_train=300, n_valid=100, n_test=100)
    rows = {split: {tuple(clip.flatten().tolist()) for clip in getattr(data, split)}
            for split in ("train", "validation", "test")}
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["validation"]
    assert not rows["validation"] & rows["test"]


def test_shapes_move_and_stay_inside_the_frame():
    clips = torch.from_numpy(draw_clips(50, num_frames=6, size=12))
    ink = clips.sum((2, 3))                                              # (n, T) pixels on
    assert bool((ink > 0).all()), "every frame shows a shape"
    moved = (clips[:, 1:] != clips[:, :-1]).flatten(2).any(-1)            # (n, T - 1)
    assert float(moved.float().mean()) > 0.9, "shapes move (a bounce can leave one in place for a frame)"
    assert bool((ink <= 2 * 21).all()) and bool((ink.min(1).values >= 9).all()), "shapes stay whole inside the frame"


def test_clip_strips_lays_frames_out_in_time():
    clips = torch.zeros(2, 3, 4, 5, dtype=torch.long)
    clips[1, 2] = 1
    picture = clip_strips(clips)
    assert picture.shape == (2 * 5 - 1, 3 * 6 - 1)
    assert picture[5:, 12:].min() == 1 and picture[:4, :5].max() == 0 and picture[4, 0] == 0.5


# ----------------------------------------------------------------------------------------------
# the model


def tiny(condition_on_past=True, shape=(3, 3, 3), scale=0.5):
    torch.manual_seed(0)
    model = VideoPixelCNN(shape, 2, hidden_channels=6, num_layers=2, first_kernel_size=3, encoder_kernel_size=3,
                          encoder_layers=1, condition_on_past=condition_on_past)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model.eval()


def frame_dependencies(model):
    """dep (P, P) from dependency_report, and the frame of every flat position."""
    order = model_order(model)
    frames, height, width = model.event_shape
    assert torch.equal(order, torch.arange(frames * height * width)), "frame by frame, raster order inside a frame"
    report = dependency_report(model, model.event_shape, 2, ordering=order.tolist(), trials=4)
    report.assert_autoregressive()
    return report.dep, torch.arange(frames * height * width) // (height * width)


def test_the_video_model_is_autoregressive_over_frame_row_and_column():
    for condition_on_past in (True, False):
        dep, frame = frame_dependencies(tiny(condition_on_past))
        assert bool(dep.any())
        assert not bool(dep[0].any()), "the first pixel of the first frame depends on nothing"


def test_the_conditional_model_uses_the_previous_frames_and_the_baseline_does_not():
    dep, frame = frame_dependencies(tiny(True))
    for t in (1, 2):
        assert bool(dep[frame == t][:, frame == t - 1].any()), f"frame {t} ignores frame {t - 1}"
    assert bool(dep[frame == 2][:, frame == 0].any()), "two frames of context: frame 2 sees frame 0"
    baseline, _ = frame_dependencies(tiny(False))
    assert not bool(baseline[frame[:, None] != frame[None, :]].any()), "the baseline sees only its own frame"
    # the same, directly: change frame 0 and look at frame 1's logits
    model, x = tiny(True), torch.randint(0, 2, (4, 3, 3, 3), generator=torch.Generator().manual_seed(2))
    changed = x.clone()
    changed[:, 0] = 1 - changed[:, 0]
    with torch.no_grad():
        assert not torch.allclose(model(x)[:, 1], model(changed)[:, 1])
        assert torch.equal(tiny(False)(x)[:, 1], tiny(False)(changed)[:, 1])


def test_forward_log_prob_and_per_frame_log_prob_agree():
    model = tiny(True, shape=(4, 5, 5))
    x = torch.randint(0, 2, (6, 4, 5, 5), generator=torch.Generator().manual_seed(3))
    logits = model(x)
    assert logits.shape == (6, 4, 5, 5, 2)
    torch.testing.assert_close(model.log_prob(x), categorical_log_prob(logits, x))
    per_frame = model.log_prob_per_frame(x)
    assert per_frame.shape == (6, 4)
    torch.testing.assert_close(per_frame.sum(1), model.log_prob(x), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(nats_per_frame(model, x, batch_size=4), -per_frame.double().mean(0),
                               atol=1e-4, rtol=1e-5)
    with pytest.raises(ValueError, match="not class-conditional"):
        model(x, torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError):
        model(x[:, :3])


def test_sampling_is_reproducible_and_the_cached_step_gives_the_same_samples():
    model = tiny(True, shape=(3, 4, 4))
    first = sample(model, 5, generator=torch.Generator().manual_seed(0))
    assert first.shape == (5, 3, 4, 4) and first.dtype == torch.long and set(first.unique().tolist()) <= {0, 1}
    assert torch.equal(first, sample(model, 5, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(first, sample(model, 5, generator=torch.Generator().manual_seed(0), cached=False))
    assert not torch.equal(first, sample(model, 5, generator=torch.Generator().manual_seed(1)))
    # continuing given frames: the first frame as a prefix in generation order
    given = torch.randint(0, 2, (5, 16), generator=torch.Generator().manual_seed(4))
    continued = sample(model, 5, prefix=given, generator=torch.Generator().manual_seed(0))
    assert torch.equal(continued[:, 0].reshape(5, -1), given)
    x = torch.randint(0, 2, (2, 3, 4, 4), generator=torch.Generator().manual_seed(5))
    logits = model(x).reshape(2, -1, 2)
    cache = model.start_cache(2)
    with torch.no_grad():
        for step in range(48):
            torch.testing.assert_close(model.cached_step(x, step, cache), logits[:, step], atol=1e-5, rtol=1e-5)
