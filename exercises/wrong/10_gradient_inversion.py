"""Typical wrong answers to the coding exercise of notebook 10 (the gradient-matching objective).

tests/exercises/test_editions.py binds each function below to the name the student defines
(``matching_loss``) and checks that otter's tests for the question reject it.
"""

import torch


def _dummy(model, dummy_x, labels, create_graph=True):
    ce = torch.nn.functional.cross_entropy(model(dummy_x), labels)
    return torch.autograd.grad(ce, list(model.parameters()), create_graph=create_graph)


def matching_loss_no_create_graph(model, dummy_x, labels, target_grads):
    """Takes the dummy gradient without create_graph=True: the loss is a constant to autograd, so the
    attack cannot backpropagate it into the dummy image."""
    d = _dummy(model, dummy_x, labels, create_graph=False)
    inner = sum((a * b).sum() for a, b in zip(d, target_grads))
    nd = torch.sqrt(sum((a * a).sum() for a in d))
    nt = torch.sqrt(sum((b * b).sum() for b in target_grads))
    return 1.0 - inner / (nd * nt)


def matching_loss_squared_distance(model, dummy_x, labels, target_grads):
    """DLG's squared Euclidean distance instead of the cosine: depends on the update's scale (learning rate,
    number of summed updates), which Inverting Gradients is built to ignore."""
    d = _dummy(model, dummy_x, labels)
    return sum(((a - b) ** 2).sum() for a, b in zip(d, target_grads))


def matching_loss_cosine_not_distance(model, dummy_x, labels, target_grads):
    """Returns the cosine similarity itself (to be maximised) instead of 1 - cosine (to be minimised)."""
    d = _dummy(model, dummy_x, labels)
    inner = sum((a * b).sum() for a, b in zip(d, target_grads))
    return inner / (torch.sqrt(sum((a * a).sum() for a in d)) * torch.sqrt(sum((b * b).sum() for b in target_grads)))


def matching_loss_mean_of_layer_cosines(model, dummy_x, labels, target_grads):
    """Averages one cosine per parameter tensor instead of one cosine over all parameters: layers with a few
    weights (the biases) weigh as much as the large ones."""
    d = _dummy(model, dummy_x, labels)
    cos = [(a * b).sum() / (a.norm() * b.norm() + 1e-12) for a, b in zip(d, target_grads)]
    return 1.0 - sum(cos) / len(cos)


def matching_loss_predicted_labels(model, dummy_x, labels, target_grads):
    """Uses the model's own prediction on the dummy image as the label instead of the given labels."""
    pred = model(dummy_x).argmax(dim=1).detach()
    d = _dummy(model, dummy_x, pred)
    inner = sum((a * b).sum() for a, b in zip(d, target_grads))
    nd = torch.sqrt(sum((a * a).sum() for a in d))
    nt = torch.sqrt(sum((b * b).sum() for b in target_grads))
    return 1.0 - inner / (nd * nt + 1e-12)


WRONG = {"q10_gradient_matching_loss": [
    matching_loss_no_create_graph,
    matching_loss_squared_distance,
    matching_loss_cosine_not_distance,
    matching_loss_mean_of_layer_cosines,
    matching_loss_predicted_labels,
]}
