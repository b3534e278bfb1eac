# One image for every service; the service is chosen by the command (python -m services.<name>).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY devstack ./devstack
RUN pip install . && useradd --system --uid 10001 prospectflow
USER prospectflow
ENTRYPOINT ["python", "-m"]
CMD ["services.intake"]
