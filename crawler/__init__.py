"""The Scrapy project: spiders, middlewares and pipelines that feed the archive."""
