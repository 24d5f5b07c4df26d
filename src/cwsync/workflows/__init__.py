"""What the workflows share: one journaled step runner (`steps`) and a run's lifecycle (`runs`)."""

from cwsync.workflows.runs import WorkflowRun, workflow_run
from cwsync.workflows.steps import Finder, Outcome, Step, StepKind, StepResult, StepRunner, journal_step

__all__ = [
    "Finder",
    "Outcome",
    "Step",
    "StepKind",
    "StepResult",
    "StepRunner",
    "WorkflowRun",
    "journal_step",
    "workflow_run",
]
