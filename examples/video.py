"""Video: the frames and the soundtrack of one column as two modalities.

In the bundled moving shapes clips the class is the pair (shape seen, sound
heard). ``VideoEncoder`` samples a few frames of each clip (seeking to the
keyframes rather than decoding every frame), embeds them with an
``ImageEncoder`` and averages them over time; ``video_soundtrack`` turns the
same column into an audio column for ``MFCCEncoder``. Early fusion of the two
tells most classes apart, which neither modality can alone (stacking the two
single-modality models does better still: ``benchmarks/video_fusion.py``).
"""

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmensemble import (
    FeatureFusion,
    ImageEncoder,
    MFCCEncoder,
    VideoEncoder,
    video_soundtrack,
)
from mmensemble.datasets import load_moving_shapes

X, y = load_moving_shapes(return_X_y=True)
X["sound"] = video_soundtrack(X["video"], sr=16000)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)

# 4 frames per clip; the 64-pixel frames are upscaled to a 96-pixel network input.
frames = VideoEncoder(ImageEncoder(image_size=96), n_frames=4)
sound = MFCCEncoder(sr=16000)
for name, encoder, column in [("frames", frames, "video"), ("sound", sound, "sound")]:
    alone = make_pipeline(encoder, StandardScaler(), LogisticRegression(C=0.1))
    alone.fit(X_train[column], y_train)
    print(f"{name} alone: accuracy {alone.score(X_test[column], y_test):.3f}")

fusion = FeatureFusion([("frames", frames, "video"), ("sound", sound, "sound")])
model = make_pipeline(fusion, LogisticRegression(C=0.1, max_iter=2000))
model.fit(X_train, y_train)
print(f"frames + sound (early fusion) accuracy: {model.score(X_test, y_test):.3f}")
