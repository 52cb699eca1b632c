"""The /console web pages for officials and auditors: server-rendered (Jinja2), same domain functions as the API."""
