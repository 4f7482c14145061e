"""`ace run`: an app's actions, called from the command line (and, later, the dashboard).

- `run`: find the app, its action and params; make the image exist through the ordinary pass;
  call the action
- `runner`: `CommandRunner`, serving `container.run(...)` with fresh containers of the image
"""
