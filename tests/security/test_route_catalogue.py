"""The route catalogue (tests/helpers.py) names every rule of the app, with its methods: a new
route fails here until the access, CSRF and fuzz grids know how to call it."""

from taper.access import PUBLIC_ENDPOINTS
from tests.helpers import CATALOGUE, catalogue_gaps


def test_the_catalogue_names_every_route_and_no_other(app):
    gaps = catalogue_gaps(app)
    assert not gaps, "\n".join(gaps)


def test_the_catalogues_public_routes_are_the_allow_list(app):
    public = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint in PUBLIC_ENDPOINTS}
    assert public == {rule for rule, route in CATALOGUE.items() if route.public}
