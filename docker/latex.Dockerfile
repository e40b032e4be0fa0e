# praas-kit process runtime plus a TeX Live for LaTeX microservices (pdflatex, bibtex, latexmk;
# acmart from texlive-publishers; cm-super for scalable fonts, which acmart with microtype needs).
ARG PROCESS_IMAGE=praas-process:latest
FROM ${PROCESS_IMAGE}
USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-publishers \
      texlive-fonts-recommended latexmk cm-super \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
USER praas
