"""A workspace: the folder of connection files, loaded into validated connections.

`loading` reads every file of `connections/` on its own (one broken file never hides the others),
`connection` is one loaded connection (`LoadedConnection`: config, source, destination, redactor),
and `registry` finds connectors by entry point.
"""
