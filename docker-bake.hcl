# docker buildx bake                                   -> target "default" (MODEL_NAME, GPU)
# docker buildx bake --set default.args.MODEL_NAME=dreamshaper
# MODEL_NAME=dreamshaper docker buildx bake            -> same, with a matching tag
# docker buildx bake awportrait_v14 dreamshaper cpu    -> named targets; "all" builds the three

variable "MODEL_NAME" {
  default = "awportrait_v14"
}

variable "GIT_VERSION" {
  default = "v1.9.3"
}

variable "APP_NAME" {
  default = "runpod-worker-a1111"
}

variable "GIT_REPO_URL" {
  default = "https://github.com/AUTOMATIC1111/stable-diffusion-webui.git"
}

# Prefix for image names, e.g. "docker.io/yourname/" (with the trailing slash).
variable "REGISTRY" {
  default = ""
}

group "all" {
  targets = ["awportrait_v14", "dreamshaper", "cpu"]
}

# Settings shared by every image.
target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64"]
  args = {
    GIT_VERSION  = "${GIT_VERSION}"
    APP_NAME     = "${APP_NAME}"
    GIT_REPO_URL = "${GIT_REPO_URL}"
  }
}

# The model chosen by MODEL_NAME, on the GPU.
target "default" {
  inherits = ["_common"]
  args = {
    MODEL_NAME = "${MODEL_NAME}"
  }
  tags = ["${REGISTRY}${APP_NAME}:${MODEL_NAME}-${GIT_VERSION}"]
}

target "awportrait_v14" {
  inherits = ["_common"]
  args = {
    MODEL_NAME = "awportrait_v14"
  }
  tags = ["${REGISTRY}${APP_NAME}:awportrait_v14-${GIT_VERSION}"]
}

target "dreamshaper" {
  inherits = ["_common"]
  args = {
    MODEL_NAME = "dreamshaper"
  }
  tags = ["${REGISTRY}${APP_NAME}:dreamshaper-${GIT_VERSION}"]
}

# A1111 on the CPU, to try the image on a machine without a GPU (slow: tens of seconds per
# 512x512 image). CPU torch wheels; no GPU check at start.
target "cpu" {
  inherits = ["_common"]
  args = {
    MODEL_NAME        = "${MODEL_NAME}"
    TORCH_INDEX_URL   = "https://download.pytorch.org/whl/cpu"
    WEBUI_CPU         = "1"
    REQUIRE_GPU       = "0"
    WEBUI_DEVICE_ARGS = "--use-cpu all --no-half --precision full --skip-torch-cuda-test"
  }
  tags = ["${REGISTRY}${APP_NAME}:${MODEL_NAME}-${GIT_VERSION}-cpu"]
}
