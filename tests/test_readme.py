"""README's set-up lines are the commands CI and users run."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8").split("```bash\n", 1)[1].split("```", 1)[0]
    install_and_run, install_and_test = readme.strip().splitlines()
    assert "sweeper run search_spaces/quickstart.yaml" in install_and_run
    assert install_and_test.endswith("pytest")
    assert install_and_test in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
