"""hydra/launcher=stacked: a sweep's jobs that can train together as one stacked model (launch.py groups
them, fit.py trains them in one Lightning fit, model.py and data.py are the stack, members.py each job's
own run around it)."""
