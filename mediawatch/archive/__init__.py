"""Everything about what is kept. Never imports Scrapy or mediawatch.crawler."""
