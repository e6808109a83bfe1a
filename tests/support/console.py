"""Reading the console's pages in tests."""


def text(response) -> str:
    """The page a test client got, as text."""
    return response.content.decode()
