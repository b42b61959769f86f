"""nbgrader configuration for the course (used by `python -m utils.grading` and plain `nbgrader`)."""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "ar-course"
c.CourseDirectory.source_directory = "solutions"     # instructor notebooks: solutions + hidden tests
c.CourseDirectory.release_directory = "assignments"  # student versions, committed to the repository

# Every cell gets at most this many seconds when autograding; a cell that runs longer is
# interrupted and recorded as an error, and grading goes on with the next cell.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# nbgrader scores a test cell 0 if it writes anything to stderr. Warnings and progress bars are not
# failures, so they are dropped before scoring (errors still count).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Warning|\d+%\|"

# A student who deletes a graded test cell gets it back (and is graded on it).
c.OverwriteCells.add_missing_cells = True

# Students receive the ordinary stub; the solution text never reaches assignments/.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Feedback must never show hidden tests: strip their source and reduce tracebacks to the message.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
    "utils.grading.HideTestInternals",
]
c.ClearHiddenTests.enforce_metadata = False
