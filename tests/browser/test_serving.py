"""How the gateway serves the workplace: its pages, its files, and a policy that allows only itself."""

from journeys import V1


def test_every_page_of_the_application_is_its_index_with_a_same_origin_policy(system):
    for path in ("/", "/desk?phone=+493012345678", "/contacts/0192", "/manager", "/admin"):
        response = system.http.get(system.url(path))
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith("text/html")
        assert '<script type="module" src="/web/app.js">' in response.text
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "connect-src 'self';" in policy and "unsafe" not in policy
        assert "frame-ancestors 'none'" in policy


def test_the_files_are_served_by_type_and_nothing_outside_web(system):
    script = system.http.get(system.url("/web/pages/desk.js"))
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert system.http.get(system.url("/web/style.css")).headers["Content-Type"].startswith("text/css")
    for path in ("/web/../gateway/gateway/web.py", "/web/%2e%2e/README.md", "/web/nothing.js", "/webs"):
        response = system.http.get(system.url(path))
        assert response.status_code == 404, path
        assert response.headers["Content-Type"] == "application/problem+json"


def test_the_api_keeps_its_own_policy(system):
    response = system.http.get(system.url(f"{V1}/users/me"))
    assert response.status_code == 401
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
