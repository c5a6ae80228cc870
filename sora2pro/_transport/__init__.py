"""One exchange with the API: a request in, an envelope out, every failure mapped.

``_transport`` is the only code that touches ``aiohttp.ClientSession``; ``_retry``
retries named transient failures within a policy and a deadline; ``_instrument``
is how both report retries and pauses to whoever listens.
"""
