"""A link straight to a page, as the first visit to a fresh server, still runs app.py."""
from harness.browser import start_app, stop_app, wait_ready


def test_deep_link_on_fresh_server_has_sidebar_and_page(page, user_models_dir):
    proc, url = start_app({"VAE_USER_MODELS": str(user_models_dir)})
    try:
        page.goto(f"{url}/reconstruct")
        wait_ready(page)
        page.get_by_role("heading", name="Reconstruct: your own image through the VAE").wait_for()
        picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
        assert "mnist-2d" in picker.inner_text() + picker.locator("input").input_value()
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Latent map" in nav and "latent_map" not in nav  # the app's navigation, not the folder's
    finally:
        stop_app(proc)
