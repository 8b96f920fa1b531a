package com.aforo.metering;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import org.apache.catalina.Context;
import org.apache.catalina.startup.Tomcat;

/**
 * Hosts a web application listener (the Integration Guide's servlet snippet) on embedded Tomcat
 * with one servlet at /items/*, as a web app would: {@code SnippetHost <listener class> <port>}.
 */
public final class SnippetHost {
  public static void main(String[] args) throws Exception {
    File base = Files.createTempDirectory("aforo-snippet").toFile();
    Tomcat tomcat = new Tomcat();
    tomcat.setBaseDir(base.getPath());
    tomcat.setPort(Integer.parseInt(args[1]));
    tomcat.getConnector().setProperty("address", "127.0.0.1");
    Context ctx = tomcat.addContext("", base.getPath());
    ctx.addApplicationListener(args[0]);
    Tomcat.addServlet(ctx, "items", new HttpServlet() {
      @Override
      protected void doGet(HttpServletRequest req, HttpServletResponse res) throws IOException {
        res.setContentType("application/json");
        res.getWriter().write("{\"id\": \"" + req.getPathInfo().substring(1) + "\"}");
      }
    });
    ctx.addServletMappingDecoded("/items/*", "items");
    tomcat.start();
    tomcat.getServer().await();
  }
}
