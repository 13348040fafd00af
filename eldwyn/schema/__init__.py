"""The schema of Eldwyn's data: every key declared once, with its type, bounds, default and meaning.

* ``base``: the model every part derives from (unknown keys refused with "did you mean"), and
  ``problems()``, which turns pydantic's errors into one line per problem.
* ``types``: the checked value types shared by the data and the webservice (host names, JIDs,
  ports, periods...).
* ``signup``: the registration webservice's settings. The webservice reads this very module on
  the host (with Debian's python3-pydantic), so it imports nothing outside this package.
* ``data``: the deploy's data (group_data/*.py), section by section.

Only ``data`` needs the rest of the eldwyn package; the webservice is shipped base, types and
signup (eldwyn/host_files.py).
"""
