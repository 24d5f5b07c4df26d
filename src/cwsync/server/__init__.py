"""`cwsync serve`: webhooks, jobs, scheduler and REST API in one process."""
