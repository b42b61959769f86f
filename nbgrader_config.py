"""nbgrader configuration for the course (used by `python -m utils.grading` and plain `nbgrader`).

Autograding never runs student code in nbgrader's own process: `TrustedResults` takes the place of
nbgrader's Execute step. It runs each submission in a bubblewrap sandbox and decides every graded
test cell by its hidden test in the trusted grader (see utils/grading/), then nbgrader's own
SaveAutoGrades writes the points into gradebook.db, so formgrader, feedback and export work as usual.
"""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "ar-course"
c.CourseDirectory.source_directory = "solutions"     # instructor notebooks: solutions + hidden tests
c.CourseDirectory.release_directory = "assignments"  # student versions, committed to the repository

c.Autograde.autograde_preprocessors = [
    "utils.grading.gradebook.TrustedResults",        # sandboxed run + trusted verdicts (instead of Execute)
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# A student who deletes a graded test cell gets it back (and is graded on it).
c.OverwriteCells.add_missing_cells = True

# Students receive the ordinary stub; the solution text never reaches assignments/.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Feedback never shows hidden tests: their source is removed and errors show only their message.
# An answer not yet graded by hand says so instead of showing a bare 0.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
    "utils.grading.gradebook.HideTestInternals",
    "utils.grading.gradebook.MarkPendingHandGrading",
]
c.ClearHiddenTests.enforce_metadata = False
