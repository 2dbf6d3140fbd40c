# The real image check's a1111-sources build context as an image (context: the directory of
# source archives): the Docker engine here has no --build-context, so the check's Dockerfile
# takes the stage from this image instead (tests/image/test_real_image.py).
FROM scratch
COPY . /
