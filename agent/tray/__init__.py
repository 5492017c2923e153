"""The tray front end: pure view, Pillow icons, and the one module that touches pystray."""
