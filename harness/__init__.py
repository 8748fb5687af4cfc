"""Harness shared by the end-to-end tests and the benchmarks: start the app server, drive
Debian's Chromium with Playwright. Not used by the app itself."""
