"""Everything about what is kept. Never imports Scrapy or crawler."""
