# The registry's Redis: Debian 12's redis-server 7.0.  In-memory only, as
# the registry is rebuilt from heartbeats within one heartbeat interval.
FROM debian:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
EXPOSE 6379
USER redis
CMD ["redis-server", "--bind", "0.0.0.0", "--port", "6379", \
     "--protected-mode", "no", "--save", "", "--appendonly", "no", \
     "--dir", "/tmp"]
