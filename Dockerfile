# The datalake CLI in an image, installed from the tarball `npm pack` makes:
#   npm ci && npm pack            # writes datalake-<version>.tgz here (prepack builds it)
#   docker build -t datalake:0.1.0 .
#   docker run --rm -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY datalake:0.1.0 ls s3://lake/
FROM node:24-slim
COPY datalake-*.tgz /tmp/
RUN npm install --global --no-audit --no-fund /tmp/datalake-*.tgz && rm /tmp/datalake-*.tgz
USER node
WORKDIR /home/node
ENTRYPOINT ["datalake"]
CMD ["--help"]
