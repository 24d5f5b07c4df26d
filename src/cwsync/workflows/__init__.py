"""What the workflows share: one journaled step runner (`steps`) and a run's lifecycle (`runs`)."""

from cwsync.workflows.runs import WorkflowRun, workflow_run
from cwsync.workflows.steps import Step, StepRunner

__all__ = [
    "Step",
    "StepRunner",
    "WorkflowRun",
    "workflow_run",
]
