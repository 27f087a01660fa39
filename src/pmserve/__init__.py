"""pmserve: deploy predictive models under a name of your choosing and score them over REST."""

__version__ = "0.1.0"
