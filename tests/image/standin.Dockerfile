# The stand-in A1111 and its launcher, as an image the image check copies from (context: tests/).
FROM scratch
COPY a1111_standin /a1111_standin
COPY image/launch.py /launch.py
