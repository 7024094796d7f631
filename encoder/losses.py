"""Metric-learning losses on L2-normalised embeddings, labelled by group id (same id = near-duplicate).

`triplet_semihard`: for every anchor-positive pair, the closest negative that is still farther than the
positive (FaceNet's semi-hard mining, inside the batch); if none exists, the hardest negative.
`contrastive`: supervised InfoNCE (every other member of the group is a positive, the rest of the batch are
negatives), sharper at the top of the ranking.
`distilled`: either of them on a student's embeddings, plus how far they are from a teacher's of the same views
(each vector, and the batch's similarity matrix), for a cheaper encoder that learns a trained one's geometry.
Written with `keras.ops` so the same code trains on TensorFlow or JAX.
"""
from __future__ import annotations

from keras import ops


def _distances_and_masks(labels, embeddings):
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    sim = ops.matmul(embeddings, ops.transpose(embeddings))
    d2 = ops.maximum(2.0 - 2.0 * sim, 0.0)  # squared Euclidean on the unit sphere
    same = ops.equal(labels[:, None], labels[None, :])
    eye = ops.eye(ops.shape(labels)[0], dtype="bool")
    return sim, d2, ops.logical_and(same, ops.logical_not(eye)), ops.logical_not(same)


def triplet_semihard(margin: float = 0.3):
    def loss(labels, embeddings):
        _, d2, pos, neg = _distances_and_masks(labels, embeddings)
        d_ap = d2[:, :, None]  # (anchor, positive, 1)
        d_an = d2[:, None, :]  # (anchor, 1, negative)
        negative = neg[:, None, :]
        big = 1e4
        semi = ops.logical_and(negative, d_an > d_ap)
        semi_hard = ops.min(ops.where(semi, d_an, big), axis=2)  # closest negative beyond the positive
        hardest = ops.min(ops.where(negative, d_an, big), axis=2)
        chosen = ops.where(semi_hard < big, semi_hard, hardest)
        per_pair = ops.relu(d2 - chosen + margin)
        posf = ops.cast(pos, "float32")
        return ops.sum(per_pair * posf) / ops.maximum(ops.sum(posf), 1.0)
    loss.__name__ = "triplet_semihard"
    return loss


def contrastive(temperature: float = 0.07):
    def loss(labels, embeddings):
        sim, _, pos, _ = _distances_and_masks(labels, embeddings)
        n = ops.shape(sim)[0]
        logits = sim / temperature - ops.eye(n) * 1e4  # never contrast an image with itself
        log_prob = logits - ops.logsumexp(logits, axis=1, keepdims=True)
        posf = ops.cast(pos, "float32")
        per_anchor = -ops.sum(log_prob * posf, axis=1) / ops.maximum(ops.sum(posf, axis=1), 1.0)
        return ops.mean(per_anchor)
    loss.__name__ = "contrastive"
    return loss


def active_fraction(labels, embeddings, margin: float):
    """Share of anchor-positive pairs whose hardest negative still violates the margin (a training gauge)."""
    _, d2, pos, neg = _distances_and_masks(labels, embeddings)
    hardest = ops.min(ops.where(neg, d2, 1e4), axis=1, keepdims=True)
    active = ops.logical_and(pos, d2 + margin > hardest)
    return ops.sum(ops.cast(active, "float32")) / ops.maximum(ops.sum(ops.cast(pos, "float32")), 1.0)


def distilled(base, to_teacher: float = 2.0, relations: float = 10.0):
    """`base` on the student's embeddings, plus `to_teacher` x the squared distance of each to the teacher's
    embedding of the same view and `relations` x the mean squared difference of the two batch similarity
    matrices: the teacher's ranking, not only its points. The targets carry the group id in their first column
    and the teacher's embedding in the rest (`train.teacher_views` caches them)."""
    def loss(targets, student):
        labels, teacher = targets[:, 0], targets[:, 1:]
        pointwise = ops.mean(ops.sum(ops.square(student - teacher), axis=1))
        similarity = ops.matmul(student, ops.transpose(student)) - ops.matmul(teacher, ops.transpose(teacher))
        return base(labels, student) + to_teacher * pointwise + relations * ops.mean(ops.square(similarity))
    loss.__name__ = f"distilled_{base.__name__}"
    return loss


LOSSES = {"triplet": triplet_semihard, "contrastive": contrastive}
