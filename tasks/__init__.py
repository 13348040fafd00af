"""The deploy's tasks, one concern each, called in order by deploy.py.

A task that owns files on the host has ``files(config, store)``, which renders them (and
``paths(config)`` for what the host itself makes there, such as links), and a function that
puts them in place given their state on the host (deploy.py asks for every task's in one round
trip). Each returns the operations that changed what a service reads, so that deploy.py can
restart the service exactly when one of them did.
"""
