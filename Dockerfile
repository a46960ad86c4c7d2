FROM node:24-slim
WORKDIR /app
COPY package*.json ./
COPY patches ./patches
RUN npm ci
COPY . .
RUN npm run build --if-present
ENV PORT=3000
EXPOSE 3000
CMD ["npm", "start"]
