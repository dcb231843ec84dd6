"""The five questions of the course report (ML2017 HW3), as the notebooks' first cells must state them in both
languages; the tests check the notebooks and the rendered report against them."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Question:
    """One report question: the course's Traditional Chinese wording and an English translation."""

    number: int
    zh: str
    en: str

#: The five questions of the ML2017 FER2013 course report (HW3), in the course's own words.
QUESTIONS = (
    Question(1, "請說明你實作的 CNN model，其模型架構、訓練過程和準確率為何？",
             "Describe the CNN model you implemented: its architecture, training process and accuracy."),
    Question(2, "承上題，請用與上述 CNN 接近的參數量，實做簡單的 DNN model。其模型架構、訓練過程和準確率為何？"
                "試與上題結果做比較，並說明你觀察到了什麼？",
             "Following Q1, implement a simple DNN with about the same number of parameters as the CNN. What are its "
             "architecture, training process and accuracy? Compare it with Q1 and explain what you observe."),
    Question(3, "觀察答錯的圖片中，哪些 class 彼此間容易用混？[繪出 confusion matrix 分析]",
             "Looking at the misclassified images, which classes are easily confused with each other? "
             "[Plot and analyse the confusion matrix]"),
    Question(4, "從(1)(2)可以發現，使用 CNN 的確有些好處，試繪出其 saliency maps，觀察模型在做 classification 時，"
                "是 focus 在圖片的哪些部份？",
             "(1) and (2) show that a CNN does have advantages. Plot its saliency maps: which parts of the image "
             "does the model focus on when it classifies?"),
    Question(5, "承(1)(2)，利用上課所提到的 gradient ascent 方法，觀察特定層的 filter 最容易被哪種圖片 activate。",
             "Following (1) and (2), use the gradient ascent method from the lectures to observe which images most "
             "activate the filters of a given layer."),
)
