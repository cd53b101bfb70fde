"""The local HTTP server: the technician's page and the JSON API (aiohttp, same event loop as everything).

Modules: :mod:`server` (the listener; mounts the rest), :mod:`core_api` (``/api/devices``, ``/api/status``,
``/api/sim/readings``: a stable contract), :mod:`service` (the "web" service: installer code, sessions, install
window, live state), :mod:`guard` (sign-in, CSRF, security headers), :mod:`views` (HTML pages), :mod:`api`
(the page's JSON API), :mod:`live` (Server-Sent Events), :mod:`pairing`, :mod:`testmode`, :mod:`acceptance`
(county profiles in ``gateway/web/counties``), :mod:`i18n` (zh/en words), :mod:`render` (templates in ``templates/``).

Pages: ``/login``, ``/`` (status), ``/devices``, ``/devices/{id}`` (and its no-script form posts
``POST /devices/{id}``, ``POST /devices/{id}/remove``), ``/add``, ``/test``, ``/acceptance``, ``/acceptance/report``;
``/lang?to=en|zh``. JSON API (signed in; CSRF header ``X-CSRF-Token`` on every change; errors carry ``code`` and
``params`` for the page's words): ``GET /api/overview``, ``GET|PATCH|DELETE /api/devices/{id}``,
``POST /api/devices/{id}/identify``, ``GET /api/transports``, ``GET /api/pairing/{transport}``,
``POST /api/pairing/{transport}/start|stop|adopt``, ``GET /api/tests``, ``GET /api/acceptance``,
``POST /api/acceptance/manual|info|reset|submit``, ``POST /api/window``, ``GET /api/live`` (SSE: pairing, event,
delivered, submitted). :mod:`record` keeps the installation (tests, confirmations, names) across windows and
restarts.
"""
