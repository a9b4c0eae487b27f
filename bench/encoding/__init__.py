"""COPY encoder benchmark (issue [D] item 3): our encoder vs the csv module vs psycopg 3's C formatter."""
