"""The window kit shared by ``refocus view`` and ``refocus live``.

* :mod:`.display` -- GLFW window with an OpenGL 3.3 core context; one clear
  "no display" error suggesting ``refocus render``;
* :mod:`.screen` -- the picture or its depth letterboxed, HUD and help panels;
* :mod:`.input` -- GLFW callbacks routed to a window's handlers, typed
  characters to keys, the K wheel step;
* :mod:`.layout` -- letterbox and window <-> image coordinates (pure);
* :mod:`.text` -- overlay text panels (OpenCV);
* :mod:`.gl` -- shaders, textures, pixel read-back.

Importing this package imports neither GLFW nor OpenGL; the modules that need
them (:mod:`.gl`, :mod:`.screen`) are imported once a window opens.
"""
