"""Homework 4 through real nbgrader: release, and a class of submissions graded once.

Students: the reference solution, the untouched release, a correct homework written differently
(masks from index grids, another shift, label biases that start at zero, its own training loop) and
three wrong ones (a type B mask in the first layer; a vertical stack that is not shifted down; a type B
mask that hides an earlier pixel, which the visible check must catch). Each wrong one must lose exactly
the marks of the part that its mistake breaks (the hidden tests of the later parts use the reference
masks), and its feedback must say what is wrong.
"""
import re

import pytest

import submissions as subs

pytestmark = pytest.mark.grading

POINTS = {  # every graded cell and its points (the written answer is graded by hand)
    "test_make_mask": 2, "test_pixelcnn_model": 2, "test_pixelcnn_training": 2,
    "test_color_masks": 2, "test_gated_layer": 3, "test_conditional": 2,
}
AUTO_POINTS, MANUAL_POINTS = sum(POINTS.values()), 2

# -------------------------------------------------------------------------------------------------
# correct homework, written differently from the reference

OTHER_CODE = {
    # masks from comparisons of row and column index grids (the reference slices)
    "mask_solution": '''
def make_mask(kernel_size, mask_type):
    rows = torch.arange(kernel_size)[:, None]
    cols = torch.arange(kernel_size)[None, :]
    centre = kernel_size // 2
    earlier = (rows < centre) | ((rows == centre) & (cols < centre))
    if mask_type == "B":
        earlier = earlier | ((rows == centre) & (cols == centre))
    return earlier.float()
    ''',
    "color_mask_solution": '''
def make_color_mask(kernel_size, mask_type, in_channels, out_channels, color_groups):
    spatial = make_mask(kernel_size, "A")
    out_group = torch.div(torch.arange(out_channels) * color_groups, out_channels, rounding_mode="floor")
    in_group = torch.div(torch.arange(in_channels) * color_groups, in_channels, rounding_mode="floor")
    allowed = (out_group[:, None] - in_group[None, :]) >= (1 if mask_type == "A" else 0)
    centre = torch.zeros(kernel_size, kernel_size)
    centre[kernel_size // 2, kernel_size // 2] = 1
    return spatial[None, None] + allowed[:, :, None, None].float() * centre
    ''',
    # its own training loop, another width and seed
    "training_solution": '''
def train_pixelcnn(train, test):
    torch.manual_seed(3)
    model = PixelCNN(train.shape[1:], 2, hidden_channels=24, num_layers=2, kernel_size=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    shuffle = torch.Generator().manual_seed(0)
    for _ in range(2):
        for index in torch.randperm(len(train), generator=shuffle).split(64):
            loss = -model.log_prob(train[index]).mean() / 400
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model
    ''',
    # label biases as a plain (classes, channels) parameter that starts at zero, one-hot from an identity
    "conditional_solution": '''
class ConditionalMaskedConv2d(MaskedConv2d):
    def __init__(self, in_channels, out_channels, kernel_size, mask_type, num_classes):
        super().__init__(in_channels, out_channels, kernel_size, mask_type)
        self.class_bias = nn.Parameter(torch.zeros(num_classes, out_channels))     # starts at zero

    def forward(self, x, label_one_hot):
        bias = label_one_hot @ self.class_bias                                      # (N, out)
        return super().forward(x) + bias.reshape(*bias.shape, 1, 1)


class ConditionalPixelCNN(nn.Module):
    def __init__(self, image_shape, num_values, num_classes, hidden_channels=16, num_layers=3, kernel_size=3):
        super().__init__()
        self.image_shape = self.event_shape = tuple(image_shape)
        self.num_values, self.num_classes = num_values, num_classes
        sizes = [1] + [hidden_channels] * num_layers
        self.layers = nn.ModuleList(
            ConditionalMaskedConv2d(sizes[i], sizes[i + 1], 7 if i == 0 else kernel_size, "A" if i == 0 else "B", num_classes)
            for i in range(num_layers))
        self.head = ConditionalMaskedConv2d(hidden_channels, num_values, 1, "B", num_classes)

    def forward(self, x, condition):
        check_discrete(x, self.num_values, shape=self.image_shape)
        check_discrete(condition, self.num_classes, name="condition", ndim=1)
        y = torch.eye(self.num_classes, dtype=self.head.weight.dtype)[condition]
        h = x.to(self.head.weight.dtype) * 2 / (self.num_values - 1) - 1
        for layer in self.layers:
            h = torch.relu(layer(h, y))
        logits = self.head(h, y)                       # (N, K, H, W)
        return logits.permute(0, 2, 3, 1)[:, None]

    def log_prob(self, x, condition):
        log_probs = torch.log_softmax(self(x, condition), dim=-1)
        return log_probs.gather(-1, x.unsqueeze(-1)).squeeze(-1).sum(dim=(1, 2, 3))
    ''',
}

# the gated cell of the same student: another way to shift the rows down
OTHER_SHIFT = ("return F.pad(v, (0, 0, 1, 0))[:, :, :-1, :]",
               "return torch.cat([torch.zeros_like(v[:, :, :1]), v[:, :, :-1]], dim=2)")

# -------------------------------------------------------------------------------------------------
# wrong homework: what it breaks

TYPE_B_FIRST = ('layers = [MaskedConv2d(channels, hidden_channels, 7, "A", color_groups)]',
                'layers = [MaskedConv2d(channels, hidden_channels, 7, "B", color_groups)]')
NOT_SHIFTED = ("self.vertical_to_horizontal(shift_down(v_features))", "self.vertical_to_horizontal(v_features)")
B_HIDES_CORNER = ("mask[centre, centre] = 1            # type B may pass on the pixel's own features",
                  "mask[centre, centre] = 1\n        mask[:centre, -1] = 0            # (wrong) hides the top-right corner")
# the first layer sees the pixel itself: the PixelCNN part (model and training) is lost, nothing else
TYPE_B_FIRST_LOSES = ["test_pixelcnn_model", "test_pixelcnn_training"]
# the horizontal stack receives the current row, right of the pixel included: the gated part is lost
NOT_SHIFTED_LOSES = ["test_gated_layer"]
# type B hides an earlier pixel: only the mask cell is lost (the models are graded with the reference masks)
B_HIDES_CORNER_LOSES = ["test_make_mask"]
STUDENTS = ["alice_solution", "bob_untouched", "carol_other_code", "erin_type_b_first_layer",
            "frank_vertical_not_shifted", "grace_type_b_hides_a_corner"]


def cells_except(lost: list[str]) -> dict:
    return subs.points_except(POINTS, lost)


def build_class() -> dict:
    """One submission per student: student -> (notebook, expected points of every graded cell)."""
    good = subs.filled("hw4")
    other = subs.edit_source(subs.with_sources(good, OTHER_CODE), "gated_solution", *OTHER_SHIFT)
    return {
        "alice_solution": (good, cells_except([])),
        "bob_untouched": (subs.release_notebook("hw4"), cells_except(list(POINTS))),
        "carol_other_code": (other, cells_except([])),
        "erin_type_b_first_layer": (subs.edit_source(good, "pixelcnn_solution", *TYPE_B_FIRST),
                                    cells_except(TYPE_B_FIRST_LOSES)),
        "frank_vertical_not_shifted": (subs.edit_source(good, "gated_solution", *NOT_SHIFTED),
                                       cells_except(NOT_SHIFTED_LOSES)),
        "grace_type_b_hides_a_corner": (subs.edit_source(good, "mask_solution", *B_HIDES_CORNER),
                                        cells_except(B_HIDES_CORNER_LOSES)),
    }


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    return subs.grade_class("hw4", tmp_path_factory.mktemp("hw4_class"), build_class())


# -------------------------------------------------------------------------------------------------
# the graded class


@pytest.mark.parametrize("student", STUDENTS)
def test_each_student_gets_the_expected_points_in_every_cell(graded_class, student):
    graded_class.check_points(student, AUTO_POINTS + MANUAL_POINTS)


def test_the_solution_leaves_only_the_written_answer_to_grade_by_hand(graded_class):
    assert float(graded_class.rows["alice_solution"]["manual_pending"]) == MANUAL_POINTS


def test_feedback_says_what_is_wrong(graded_class):
    itself = graded_class.feedback("erin_type_b_first_layer")
    assert re.search(r"output x\[c=0, h=(\d+), w=(\d+)\] depends on input x\[c=0, h=\1, w=\2\] \(itself\)", itself), \
        itself[-3000:]
    later = graded_class.feedback("frank_vertical_not_shifted")
    assert "gated layers" in later and re.search(r"depends on input x\[c=0, h=\d+, w=\d+\] \(comes later\)", later), \
        later[-3000:]
    hidden = graded_class.feedback("grace_type_b_hides_a_corner")
    assert "make_mask(3, 'B') hides earlier pixels at (row, col) [(0, 2)]" in hidden, hidden[-3000:]   # the visible check
    assert re.search(r"make_mask\(\d, 'B'\) hides an earlier pixel inside the kernel", hidden), hidden[-3000:]


def test_feedback_hides_hidden_tests(graded_class):
    graded_class.check_feedback_hides_hidden_tests()
    assert "NotImplementedError" in graded_class.feedback("bob_untouched")
